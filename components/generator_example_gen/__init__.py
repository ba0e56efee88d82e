"""GeneratorExampleGen: examples made by a seeded generator module inside the Beam pipeline."""

from components.generator_example_gen.component import GeneratorExampleGen, GeneratorExampleGenError

__all__ = ["GeneratorExampleGen", "GeneratorExampleGenError"]
