"""What every layer of the project shares: names and the serving folder layout, with no dependencies.

``models/``, ``components/``, ``pipelines/`` and ``serving/`` all import this package; it imports
nothing but the standard library, so the server and the clients need neither TFX nor TFT.
"""
