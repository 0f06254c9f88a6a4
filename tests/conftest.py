import os
import sys
from pathlib import Path

# Experiments run at their CI size unless the caller asks otherwise.
os.environ.setdefault("COURSE_LIB_MODE", "fast")
sys.path.insert(0, str(Path(__file__).resolve().parent))
