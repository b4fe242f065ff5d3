import sys

from stablesam.cli import main

sys.exit(main())
