# Build: pip install torch==2.13.0 ninja && pip install --no-build-isolation .
# (an isolated build environment would fetch torch 2.13.0 again, where pip may
# pick its multi-GB CUDA build; ninja compiles in parallel and incrementally).
import glob
import os
import re
import sys
import sysconfig

from setuptools import find_packages, setup
from torch.utils.cpp_extension import BuildExtension, CppExtension

here = os.path.dirname(os.path.abspath(__file__))
# Every source builds on every architecture: ISA files compile to nothing
# where their ISA does not exist and set their own target (isa_target.h).
sources = sorted(
    os.path.relpath(p, here)
    for p in glob.glob(os.path.join(here, "csrc", "**", "*.cpp"), recursive=True)
)
# Headers too, so that editing one relinks (ninja's depfiles then recompile
# only the objects that include it).
headers = sorted(
    os.path.relpath(p, here)
    for ext in ("h", "inl")
    for p in glob.glob(os.path.join(here, "csrc", "**", "*." + ext), recursive=True)
)


def _is_debug_flag(flag):
    return re.fullmatch(r"-g[0-3]?|-ggdb[0-3]?|-gdwarf(-[0-9])?", flag) is not None


class build_ext(BuildExtension):
    """torch's BuildExtension (ninja when installed), with two changes.

    Release builds drop Python's `-g` (its CFLAGS): debug info doubled the
    compile time of the extension. `build_ext --debug` keeps it.

    Objects go to a persistent build/temp.<platform>-<python> under the source
    tree, also for `pip install -e` (setuptools would use a fresh temporary
    folder): the editable install after a `pip install .`, and every later
    one, reuses the objects, and ninja recompiles only what changed.
    """

    def finalize_options(self):
        super().finalize_options()
        if "build_temp" not in self.distribution.get_option_dict("build_ext"):
            self.build_temp = os.path.join(
                here, "build", f"temp.{sysconfig.get_platform()}-{sys.implementation.cache_tag}"
            )

    def build_extensions(self):
        if not self.debug:
            for name in ("compiler", "compiler_so", "compiler_cxx", "compiler_so_cxx",
                         "linker_so", "linker_so_cxx", "linker_exe", "linker_exe_cxx"):
                command = getattr(self.compiler, name, None)
                if isinstance(command, list):
                    setattr(self.compiler, name, [f for f in command if not _is_debug_flag(f)])
        super().build_extensions()


setup(
    name="sqbert-kernels",
    version="0.1.0",
    description="Grouped pointwise convolution and attention kernels for SqueezeBERT",
    packages=find_packages(include=["sqbert_kernels", "sqbert_kernels.*"]),
    ext_modules=[
        CppExtension(
            "sqbert_kernels._C",
            sources,
            depends=headers,
            extra_compile_args={"cxx": ["-O3", "-std=c++17", "-fopenmp"]},
            extra_link_args=["-fopenmp"],
        )
    ],
    cmdclass={"build_ext": build_ext},
    # safetensors reads checkpoints (validated, memory-mapped). sqbert-bench
    # runs without the bench extra, but draws its chart with matplotlib and
    # times Hugging Face's baselines with transformers (also for the tests).
    install_requires=["torch>=2.4", "safetensors>=0.4"],
    extras_require={
        "bench": ["matplotlib", "transformers"],
        "test": ["pytest", "pytest-benchmark", "hypothesis", "numpy", "transformers", "triton==3.7.1"],
    },
    entry_points={"console_scripts": ["sqbert-bench=sqbert_kernels.bench:main"]},
    python_requires=">=3.9",
)
