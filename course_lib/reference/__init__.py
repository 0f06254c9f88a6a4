"""Plain numpy reference implementations, written with the math's own names.

Each function is one update rule, estimator or derivation helper that a
chapter teaches; the chapter shows its code under the equation
(``literalinclude`` between ``# [start-NAME]`` and ``# [end-NAME]`` markers),
and the tests check the fast implementations in course_lib against it.
Nothing here is tuned for speed: clarity first, one idea per function.

Modules: :mod:`course_lib.reference.update_rules` (gradient descent, momentum,
the adaptive rules, and the helpers their derivations use) and one module per
other part of the course: ``model_selection`` (chapter 1), ``minibatch``
(chapters 3 and 5), ``curvature`` (chapter 4), ``landscape`` (chapter 5),
``schedules`` (chapter 8), ``losses`` (chapter 9), ``scaling`` and
``batch_norm`` (chapter 10), ``constrained`` (chapter 11) and ``sampling``
(chapter 12).
"""
