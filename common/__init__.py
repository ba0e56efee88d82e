"""What every layer of the project shares: names, the serving folder layout, settings validation.

``models/``, ``components/``, ``pipelines/`` and ``serving/`` all import this package; it imports
nothing but the standard library and pydantic, so the server and the clients need neither TFX nor
TFT.
"""
