"""Element-wise op and matmul timings on a (62259, 256) tensor (BENCHMARKS.md, "Allocator").

Default allocator:  .venv/bin/python benchmarks/allocator.py
Heap kept:          MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=17179869184 .venv/bin/python benchmarks/allocator.py
"""
import torch,time
x=torch.randn(62259,256)
def t(f,n=10):
    f(); s=time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter()-s)/n*1e3
print("sin", t(lambda: torch.sin(x)))
print("cos", t(lambda: torch.cos(x)))
print("mul", t(lambda: x*x))
w=torch.randn(256,256)
print("mm", t(lambda: x@w))
