/* The benchmarks' floor: a program that returns at once.
 *
 * bench/worker.py (trace --floor) attaches it to the same tracepoints as
 * brtrace, so what the kernel charges for running any program there (the
 * tracepoint's dispatch into BPF, paid by every packet at every hook) is
 * measured apart from what brtrace's own parsing and filtering add.
 */
int brt_floor(struct bpf_raw_tracepoint_args *ctx)
{
    return 0;
}
