"""Only the optional C kernels; every other setting is in pyproject.toml.

Both extensions are optional: where no C compiler or Python headers exist the build carries on
without them. unistore.fingerprint then uses its numpy code (the same digests), and decimal text is
cast by Arrow (the same values).
"""

import os

from setuptools import Extension, setup

FLAGS = ["-O3"] if os.name != "nt" else []
setup(ext_modules=[
    Extension("unistore._fphash", ["src/unistore/_fphash.c"], optional=True, extra_compile_args=FLAGS),
    Extension("unistore._numeric", ["src/unistore/_numeric.c"], optional=True, extra_compile_args=FLAGS),
])
