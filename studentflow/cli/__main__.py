"""`python -m studentflow.cli`: the `studentflow` command."""
from studentflow.cli import entry

entry()
