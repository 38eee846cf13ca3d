"""Build of the one C extension (``relayroom.media.native._fanout``, docs/decisions/0032-native-fanout.md).

Everything else is in pyproject.toml. The extension needs only a C compiler and the Python headers; it
calls the libsrtp that pylibsrtp ships through a function address handed over at run time, so it links
against nothing.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "relayroom.media.native._fanout",
            ["src/relayroom/media/native/_fanout.c"],
            extra_compile_args=[
                "-O2",
                "-std=c11",
                "-D_GNU_SOURCE",
                "-Wall",
                "-Wextra",
                "-Wno-unused-parameter",
                "-Wno-missing-field-initializers",
                "-Wno-cast-function-type",
            ],
        )
    ]
)
