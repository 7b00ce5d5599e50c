# Build: pip install torch==2.13.0 && pip install --no-build-isolation .
# (an isolated build environment would fetch an unpinned, multi-GB torch).
import glob
import os

from setuptools import find_packages, setup
from torch.utils.cpp_extension import BuildExtension, CppExtension

here = os.path.dirname(os.path.abspath(__file__))
# Every source builds on every architecture: ISA files compile to nothing
# where their ISA does not exist and set their own target (isa_target.h).
sources = sorted(
    os.path.relpath(p, here)
    for p in glob.glob(os.path.join(here, "csrc", "**", "*.cpp"), recursive=True)
)

setup(
    name="sqbert-kernels",
    version="0.1.0",
    description="Grouped pointwise convolution and attention kernels for SqueezeBERT",
    packages=find_packages(include=["sqbert_kernels", "sqbert_kernels.*"]),
    ext_modules=[
        CppExtension(
            "sqbert_kernels._C",
            sources,
            extra_compile_args={"cxx": ["-O3", "-std=c++17", "-fopenmp"]},
            extra_link_args=["-fopenmp"],
        )
    ],
    cmdclass={"build_ext": BuildExtension},
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
