"""studentflow/report stage: the markdown report and its charts (see report.py)."""
