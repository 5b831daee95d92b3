import sys

from pytest_llmonpy.cli import main

sys.exit(main())
