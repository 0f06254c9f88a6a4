import os
import sys
from pathlib import Path

# Experiments run at their CI size unless the caller asks otherwise.
os.environ.setdefault("COURSE_LIB_MODE", "fast")
os.environ.setdefault("COURSE_LIB_PROGRESS", "0")   # no tqdm bars in executed notebooks
sys.path.insert(0, str(Path(__file__).resolve().parent))
