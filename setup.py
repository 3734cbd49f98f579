"""Build script: the pure-Python packages plus the Cython extension(s).

Every ``htools/*.pyx`` is compiled to the extension module of the same name
(``htools/_core.pyx`` -> ``htools._core``).  Metadata lives in pyproject.toml.
"""
import glob
import os

from setuptools import setup


def _extensions():
    from Cython.Build import cythonize
    from setuptools import Extension
    import numpy

    here = os.path.dirname(os.path.abspath(__file__))
    exts = []
    for path in sorted(glob.glob(os.path.join(here, "htools", "*.pyx"))):
        rel = os.path.relpath(path, here)
        name = os.path.splitext(rel)[0].replace(os.sep, ".")
        exts.append(Extension(name, [rel],
                              include_dirs=[numpy.get_include()],
                              define_macros=[("NPY_NO_DEPRECATED_API",
                                              "NPY_1_7_API_VERSION")]))
    return cythonize(exts, language_level=3, quiet=True,
                     compiler_directives={"boundscheck": False,
                                          "wraparound": False,
                                          "cdivision": True})


setup(ext_modules=_extensions())
