"""Only the optional C kernel of the content fingerprint; every other setting is in pyproject.toml.

The extension is optional: where no C compiler or Python headers exist the build carries on
without it and unistore.fingerprint uses its numpy code, which computes the same digests.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("unistore._fphash", ["src/unistore/_fphash.c"], optional=True,
                             extra_compile_args=["-O3"] if __import__("os").name != "nt" else [])])
