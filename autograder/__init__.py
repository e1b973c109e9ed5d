"""The trusted grader of the course: checks, sandbox, release, batch grading and the `course` CLI."""
