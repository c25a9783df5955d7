"""studentflow: the reference event-driven student data pipeline."""
__version__ = "0.1.0"
