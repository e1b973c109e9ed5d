"""The companion package you build during the course, one module per lesson.

Each exercise is a function (or class) whose body you write; `course check LESSON` (or the check
cell in the lesson's notebook) compares it with torch's own behaviour on CPU and, when present, CUDA.
"""
