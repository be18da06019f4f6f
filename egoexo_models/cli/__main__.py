import sys

from egoexo_models.cli import main

sys.exit(main())
