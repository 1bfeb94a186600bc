"""attriflow: reproducible replication of five interpretability papers."""

__version__ = "0.1.0"
