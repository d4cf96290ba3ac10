import sys

from calserver.cli import main

sys.exit(main())
