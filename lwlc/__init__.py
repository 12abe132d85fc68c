"""lwlc: a compiler for feasibility learning (Elser, *Learning without loss*, 2021)."""

__version__ = "0.1.0"
