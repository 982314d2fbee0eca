# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash disable=SC2034
# bench/rows.sh: the echo server rows, sourced by bench/run.sh and bench/callgrind.sh (bash,
# not run on its own). A row is a name -> "program mode": bench-<program> --mode <mode>
# ("-": the program takes none), started with SERVER_ENV's assignments, if any, in its
# environment.

# Server rows: name -> "program mode" (mode "-": the program takes none).
declare -A SERVER=(
  [rasio-oneshot]="echo_rasio oneshot" [rasio-edge]="echo_rasio edge"
  [rasio-level]="echo_rasio level" [rasio-edge-mailbox]="echo_rasio edge-mailbox"
  [rasio-net]="echo_rasio net"
  [uv-poll]="echo_uv poll" [uv-tcp]="echo_uv tcp"
  [event-level]="echo_event level" [event-et]="echo_event et"
  [ev]="echo_ev level" [epoll-floor]="echo_epoll -"
  [rasio-uring-oneshot]="echo_rasio oneshot" [rasio-uring-edge]="echo_rasio edge"
  [rasio-uring-level]="echo_rasio level" [rasio-net-uring]="echo_rasio net"
  [uring-floor]="echo_uring -"
)
# The environment a row's server runs with, beyond the benchmark's own.
declare -A SERVER_ENV=(
  [rasio-uring-oneshot]="RASIO_BACKEND=uring" [rasio-uring-edge]="RASIO_BACKEND=uring"
  [rasio-uring-level]="RASIO_BACKEND=uring" [rasio-net-uring]="RASIO_BACKEND=uring"
)
ALL_SERVERS="rasio-oneshot rasio-edge rasio-level rasio-edge-mailbox rasio-net uv-poll uv-tcp \
event-level event-et ev epoll-floor rasio-uring-oneshot rasio-uring-edge rasio-uring-level \
rasio-net-uring uring-floor"
# Rows that need io_uring: exit status 77 at start (no io_uring, or no uring backend in this
# rasio) skips them, unless RASIO_REQUIRE names uring.
UNAVAILABLE_OK="rasio-uring-oneshot rasio-uring-edge rasio-uring-level rasio-net-uring \
uring-floor"
PEERS="uv-poll uv-tcp event-level event-et ev"
RASIO_INLINE="rasio-oneshot rasio-edge rasio-level rasio-net" # "rasio best" is the best of these
FLOOR=epoll-floor
URING_FLOOR=uring-floor
