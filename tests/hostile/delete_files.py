# Try to delete the instructor's files, the other submissions and course_lib.
# The test replaces the two placeholders below with paths outside the sandbox.
import os
import pathlib
import shutil

import course_lib

package = pathlib.Path(course_lib.__file__).resolve().parent
outcome = {}
for target in (r"{canary}", r"{submissions}"):
    try:
        shutil.rmtree(target)
        outcome[target] = "deleted"
    except Exception as error:
        outcome[target] = type(error).__name__
for name in ("pwned.txt", "grading/pwned.txt"):
    try:
        (package / name).write_text("pwned")
        outcome[name] = "written"
    except Exception as error:
        outcome[name] = type(error).__name__
try:
    os.remove(package / "grading" / "compare.py")
    outcome["compare.py"] = "deleted"
except Exception as error:
    outcome["compare.py"] = type(error).__name__
print(outcome)
