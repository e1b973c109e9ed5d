"""Code that runs inside the sandbox beside student code (see runner.py). Never imported by the trusted side."""
