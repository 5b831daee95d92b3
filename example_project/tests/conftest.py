import sys
from pathlib import Path

# The app lives one directory up; this keeps the example runnable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
