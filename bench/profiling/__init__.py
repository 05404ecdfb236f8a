"""Per-layer profiling (`bench profile`) and machine ceilings (`bench ceilings`).

- `layers`: what each layer is and does (op kind, shapes, MACs by the `bench costs` convention,
  bytes moved), from one traced pass and one counted pass; no timing.
- `attribution`: per-layer time from torch.profiler, each op's self time charged to the
  innermost profiled layer that ran it.
- `fx_scopes`: an FX deploy form's inlined ops (residual adds, concats) put back at their modules;
- `etdump`: the mobile target's per-op times from ExecuTorch's ETDump (host runtime);
- `ceilings`: peak FLOP/s and memory bandwidth of this machine, the nominal ISA peak, cached.
- `profile`: puts them together (coverage against the timing core, roofline floor).
- `storage`: the two tables in the results database (one row per layer).
"""
