"""The course's autograder: exercises, public checks, hidden tests, a sandboxed grader.

Students import :class:`~course_lib.grading.student.Checker` (``check("q3")``) and
:func:`~course_lib.grading.student.student_rng`; instructors run
``python -m course_lib.grading grade --assignment NN_slug --out RESULTS SUB.ipynb ...``
(:func:`course_lib.grading.grader.grade` from Python).

One idea per module:

* ``student``    what the student's notebook imports: ``check`` and the per-student problem;
* ``questions``  the kinds of graded question that hidden-test files declare;
* ``assignment`` one assignment: solution, hidden tests, reference namespace;
* ``assign``     the student's notebook generated from the solution (no drift);
* ``notebook``   reading untrusted notebook files;
* ``sandbox``    the bubblewrap command that hides the instructor's side;
* ``kernel``     the sandboxed process that runs cells and calls the student's functions;
* ``runner``     the grader's side of one kernel: pipes, deadline, crashes;
* ``codec``      the plain data that crosses the sandbox wall;
* ``compare``    whether an answer matches;
* ``grader``     scoring, retries, parallel grading, resume;
* ``results``    atomic JSON records and the CSV summary.

This package imports nothing heavy, so that student notebooks load fast.
"""
