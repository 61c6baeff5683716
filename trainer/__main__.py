"""`python -m trainer COMMAND ...`: see trainer/commands/."""

import sys

from trainer.commands import main

if __name__ == "__main__":
    sys.exit(main())
