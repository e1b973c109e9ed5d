"""nbgrader configuration for this course: `nbgrader ...` run from this folder uses it.

Lessons are nbgrader source assignments under lessons/. Autograding runs the trusted, sandboxed
engine (autograder.nbgrader_plugin.TrustedChecks) instead of executing tests in the student's
kernel; every other step of nbgrader's pipeline is nbgrader's own.
"""
c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.source_directory = "lessons"
c.CourseDirectory.course_id = "pytorch-autograd"

c.Autograde.autograde_preprocessors = [
    "autograder.nbgrader_plugin.TrustedChecks",   # instead of nbgrader.preprocessors.Execute
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# The student's own course_pkg is what gets graded. The lesson folders under lessons/ hold no
# course_pkg, so nbgrader's "overwrite with the master version" step never replaces it.
# Hidden checks' sources never reach students: feedback shows check calls, not their inputs.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
