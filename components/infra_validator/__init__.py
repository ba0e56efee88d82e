"""InfraValidator: the candidate model served by the serving code, asked over gRPC and REST, before any push."""

from components.infra_validator.component import InfraValidator

__all__ = ["InfraValidator"]
