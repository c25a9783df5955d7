"""`python -m studentflow.cli`: the `studentflow` command."""
import sys

from studentflow.cli import main

sys.exit(main())
