"""DataValidator: each split against the curated schema, the new span against the last validated one; a gate."""

from components.data_validator.component import DataValidator
from components.data_validator.executor import DataValidationError

__all__ = ["DataValidationError", "DataValidator"]
