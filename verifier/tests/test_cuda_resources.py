"""A CUDA extension's kernel resources (verifier/cuda_resources.py): cuobjdump's resource-usage listing,
the build-cache guard on the paths the candidate names, and the merge into timing.hardware. The real
cuobjdump runs in verifier/tests/gpu/test_hardware_gpu.py."""

import os
import stat
from pathlib import Path

import pytest

from verifier import cuda_resources as cr
from verifier import hardware

# cuobjdump --dump-resource-usage of a load_inline module: two architectures, the second with more
# registers for one kernel (the larger figure is kept), a kernel with local memory, a template kernel, and a
# spilling kernel as CUDA 13.0's cuobjdump lists it (nvcc -O3 -maxrregcount=16 -arch=sm_90a on axpy_cuda_spill.py)
LISTING = """
Fatbin elf code:
================
arch = sm_80
code version = [1,8]
host = linux
compile_size = 64bit

Resource usage:
 Common:
  GLOBAL:0
 Function _Z11axpy_kernelPKfS0_Pffl:
  REG:16 STACK:0 SHARED:0 LOCAL:0 CONSTANT[0]:388 TEXTURE:0 SURFACE:0 SAMPLER:0
 Function _Z17axpy_local_kernelPKfS0_Pffl:
  REG:20 STACK:128 SHARED:0 LOCAL:128 CONSTANT[0]:388 TEXTURE:0 SURFACE:0 SAMPLER:0

Fatbin elf code:
================
arch = sm_90a
code version = [1,8]
host = linux
compile_size = 64bit

Resource usage:
 Common:
  GLOBAL:0
 Function _Z11axpy_kernelPKfS0_Pffl:REG:18 STACK:0 SHARED:0 LOCAL:0 CONSTANT[0]:388 TEXTURE:0 SURFACE:0 SAMPLER:0
 Function _Z11tile_kernelILi64EEvPKfPf:
  REG:40 STACK:0 SHARED:16384 LOCAL:0 CONSTANT[0]:368 TEXTURE:0 SURFACE:0 SAMPLER:0
 Function _Z17axpy_spill_kernelPKfS0_Pfflf:
  REG:24 STACK:128 SHARED:0 LOCAL:0 CONSTANT[0]:572 TEXTURE:0 SURFACE:0 SAMPLER:0
Fatbin ptx code:
================
arch = sm_90a
"""


def test_listing_is_parsed_per_function_with_the_largest_figure_across_architectures() -> None:
    got = cr.parse_resource_usage(LISTING)
    assert got == {
        "_Z11axpy_kernelPKfS0_Pffl": {"REG": 18, "STACK": 0, "SHARED": 0, "LOCAL": 0},
        "_Z17axpy_local_kernelPKfS0_Pffl": {"REG": 20, "STACK": 128, "SHARED": 0, "LOCAL": 128},
        "_Z11tile_kernelILi64EEvPKfPf": {"REG": 40, "STACK": 0, "SHARED": 16384, "LOCAL": 0},
        "_Z17axpy_spill_kernelPKfS0_Pfflf": {"REG": 24, "STACK": 128, "SHARED": 0, "LOCAL": 0},
    }


def test_nothing_to_parse_is_nothing() -> None:
    assert cr.parse_resource_usage("") == {}
    assert cr.parse_resource_usage("cuobjdump info    : File 'x.so' does not contain device code\n") == {}


@pytest.mark.skipif(not cr.shutil.which("c++filt"), reason="no c++filt")
def test_names_are_demangled_as_the_profiler_shows_them() -> None:
    assert cr.demangle(["_Z11axpy_kernelPKfS0_Pffl", "not_mangled"]) == {
        "_Z11axpy_kernelPKfS0_Pffl": "axpy_kernel(float const*, float const*, float*, float, long)",
        "not_mangled": "not_mangled"}


def test_only_shared_objects_inside_the_build_cache_are_read(tmp_path: Path) -> None:
    cache = tmp_path / "torch_extensions"
    (cache / "k1").mkdir(parents=True)
    inside = cache / "k1" / "ext.so"
    inside.write_bytes(b"\x7fELF")
    outside = tmp_path / "elsewhere.so"
    outside.write_bytes(b"\x7fELF")
    link = cache / "k1" / "link.so"
    link.symlink_to(outside)  # resolves outside: refused
    (cache / "k1" / "notes.txt").write_text("x")
    named = [str(inside), str(outside), str(link), str(cache / "k1" / "notes.txt"), str(cache / "k1" / "gone.so"),
             str(cache / ".." / "elsewhere.so"), 42, None, str(inside)]
    assert cr.allowed_modules(named, str(cache)) == [str(inside)]
    assert cr.allowed_modules("not a list", str(cache)) == []


def _fake_cuobjdump(tmp_path: Path, body: str) -> Path:
    tool = tmp_path / "bin" / "cuobjdump"
    tool.parent.mkdir(exist_ok=True)
    tool.write_text("#!/bin/sh\n" + body)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return tool


def test_kernel_resources_run_cuobjdump_on_the_allowed_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    (cache / "k").mkdir(parents=True)
    mod = cache / "k" / "ext.so"
    mod.write_bytes(b"\x7fELF")
    listing = tmp_path / "listing.txt"
    listing.write_text(LISTING)
    _fake_cuobjdump(tmp_path, f'[ "$1" = --dump-resource-usage ] && [ "$2" = "{mod}" ] && cat "{listing}"\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(cr, "demangle", lambda names: {n: n for n in names})
    res, note = cr.kernel_resources([str(mod)], str(cache))
    assert note is None
    assert res["_Z17axpy_local_kernelPKfS0_Pffl"] == {"registers": 20, "spill_bytes": 128, "shared_bytes": 0}
    assert res["_Z11tile_kernelILi64EEvPKfPf"]["shared_bytes"] == 16384
    # CUDA 13's cuobjdump puts ptxas's 128 bytes of spill stores in the stack frame alone (STACK:128 LOCAL:0)
    assert res["_Z17axpy_spill_kernelPKfS0_Pfflf"] == {"registers": 24, "spill_bytes": 128, "shared_bytes": 0}


def test_a_failing_cuobjdump_is_a_note_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    (cache / "k").mkdir(parents=True)
    (cache / "k" / "ext.so").write_bytes(b"junk")
    _fake_cuobjdump(tmp_path, 'echo "cuobjdump fatal   : Could not open input file" >&2; exit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    res, note = cr.kernel_resources([str(cache / "k" / "ext.so")], str(cache))
    assert res == {} and note is not None and "Could not open input file" in note


def test_no_cuobjdump_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    (cache / "k").mkdir(parents=True)
    (cache / "k" / "ext.so").write_bytes(b"\x7fELF")
    monkeypatch.setattr(cr, "cuobjdump", lambda: None)
    res, note = cr.kernel_resources([str(cache / "k" / "ext.so")], str(cache))
    assert res == {} and note is not None and "cuobjdump not found" in note
    assert cr.kernel_resources([], str(cache)) == ({}, None)  # no extension: nothing to say


def test_resources_fill_the_extensions_kernels_only() -> None:
    resources = {"axpy_local_kernel(float const*, float const*, float*, float, long)":
                 {"registers": 20, "spill_bytes": 128, "shared_bytes": 0},
                 "tile_kernel<64>(float const*, float*)": {"registers": 40, "spill_bytes": 0, "shared_bytes": 16384}}
    report = {"calls": 3, "launches": 9, "kernels": [
        {"name": "axpy_local_kernel(float const*, float const*, float*, float, long)", "launches": 3},
        {"name": "tile_kernel<64>(float const *, float *)", "launches": 3},  # spelled differently: by base name
        {"name": "triton_kernel", "launches": 3, "registers": 12, "spill_bytes": 0, "block": [128]},
    ]}
    hw = hardware.build(report, 1.0, resources=resources, resource_note=None)
    assert hw is not None
    by = {k["name"].split("(")[0]: k for k in hw["kernels"]}
    assert by["axpy_local_kernel"]["registers"] == 20 and by["axpy_local_kernel"]["spill_bytes"] == 128
    assert by["tile_kernel<64>"]["shared_bytes"] == 16384
    assert by["triton_kernel"]["registers"] == 12  # the Triton kernel's own figures stay
    assert by["axpy_local_kernel"]["occupancy"] is None  # no block size from the profiler: unknown
    noted = hardware.build(report, 1.0, resources={}, resource_note="cuobjdump not found")
    assert noted is not None and noted["notes"][0] == "cuobjdump not found"
