# Sourced by the bench scripts. `hold_idle_poll` holds /dev/cpu_dma_latency at 0 for as long as
# the calling shell runs (a PM QoS request lasts while its file descriptor is open), so idle vCPUs
# poll instead of halting: on this KVM guest a halted vCPU takes ~60 µs to wake, which swamps
# loopback latency. Sets IDLE_STATE to what was in effect. IDLE_POLL=0 skips it.
hold_idle_poll() {
    IDLE_STATE="idle allowed"
    [ "${IDLE_POLL:-1}" = 1 ] || return 0
    if { exec {QOS_FD}>/dev/cpu_dma_latency && printf '\x00\x00\x00\x00' >&"$QOS_FD"; } 2>/dev/null; then
        IDLE_STATE="cpu_dma_latency=0"
    else
        IDLE_STATE="idle allowed (cannot hold /dev/cpu_dma_latency; not root?)"
    fi
}
