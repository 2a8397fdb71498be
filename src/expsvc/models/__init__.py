"""ORM table definitions, one module per table. Alembic autogenerate reads ``Base.metadata``."""

from expsvc.models.base import Base
from expsvc.models.experiment import Experiment, experiments

__all__ = ["Base", "Experiment", "experiments"]
