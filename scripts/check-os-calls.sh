#!/bin/sh
# check-os-calls.sh OBJECT... - the library's objects other than os.c call
# no system call and no heap function themselves: they go through os.c's
# wrappers (README, Layout: "src/os.c is the only file that calls the OS").
# Checked on the test build's objects (tide_test_objects), where the heap
# wrappers are out of line; the symbols, not the text, so comments and
# struct methods named read/open/close do not count.  Starting a thread
# (pthread_create) goes through os.c too, which blocks signals around it
# and fails it on demand in tests; the rest of pthreads (locks, keys) and
# the dynamic loader (dlopen/dlsym, for the allocator purge) are
# libraries, not listed; the preload shim's objects are built against the
# release wrappers (inline malloc) and are not checked here.  The rule is
# the library's: the programs (tide-run, tidectl, the demo) are not
# library code and call the OS themselves.
set -eu
command -v nm >/dev/null || { echo "check-os-calls: no nm" >&2; exit 1; }
forbidden='mmap|mmap64|munmap|mremap|madvise|mincore|mprotect|mlock|munlock'
forbidden="$forbidden|malloc|calloc|realloc|free|posix_memalign|aligned_alloc|memalign|malloc_usable_size|malloc_trim|strdup|strndup"
forbidden="$forbidden|open|open64|openat|openat64|__open_2|__open64_2|creat|close|read|__read_chk|pread|pread64|__pread_chk|__pread64_chk"
forbidden="$forbidden|write|pwrite|pwrite64|readv|writev|fstat|fstat64|stat|stat64|lstat|lstat64|__xstat|__fxstat|__lxstat|__xstat64|__fxstat64|__lxstat64|fstatat|fstatat64|statx"
forbidden="$forbidden|statfs|statfs64|fstatfs|fstatfs64|access|faccessat|mkdir|mkdirat|chmod|fchmod|unlink|unlinkat|rmdir|rename|truncate|ftruncate"
forbidden="$forbidden|lseek|lseek64|readlink|readlinkat|getdents|getdents64|getrlimit|setrlimit|prlimit|prlimit64|sigaction|socketpair|epoll_pwait2|prctl|mount|umount|umount2"
forbidden="$forbidden|socket|connect|bind|listen|accept|accept4|getsockopt|setsockopt|recv|__recv_chk|send|recvmsg|sendmsg|recvfrom|sendto|shutdown"
forbidden="$forbidden|poll|__poll_chk|ppoll|select|pselect|epoll_create|epoll_create1|epoll_ctl|epoll_wait|epoll_pwait|eventfd|eventfd_read|eventfd_write"
forbidden="$forbidden|timerfd_create|timerfd_settime|timerfd_gettime|signalfd|fcntl|fcntl64|ioctl|syscall|getpid|gettid|getuid|geteuid|getppid|kill|tgkill"
forbidden="$forbidden|fork|vfork|clone|execve|clock_gettime|gettimeofday|nanosleep|clock_nanosleep|usleep|sleep|sched_yield"
forbidden="$forbidden|opendir|fdopendir|readdir|readdir64|closedir|fopen|fopen64|fdopen|fclose|fgets|fread|fwrite|getline|pipe|pipe2|dup|dup2|dup3"
forbidden="$forbidden|asprintf|vasprintf|__asprintf_chk|__vasprintf_chk|getdelim|reallocarray|realpath|canonicalize_file_name|open_memstream|scandir|scandir64|glob|glob64|wordexp|tempnam|tmpfile|mkstemp|mkdtemp"
forbidden="$forbidden|posix_madvise|process_madvise|memfd_create|shm_open|waitpid|wait|wait4|waitid|fchdir|chdir|sigprocmask|pthread_sigmask|setns|unshare|mmap64|getrandom|sysinfo|sysconf|statvfs|fstatvfs|recvmmsg|sendmmsg|close_range|pthread_create"
fail=0
checked=0
for o in "$@"; do
	case "$o" in */os.c.o | */os.c.obj) continue ;; esac
	checked=$((checked + 1))
	syms=$(nm -u "$o") || { echo "check-os-calls: nm $o failed" >&2; exit 1; }
	bad=$(echo "$syms" | awk '{print $NF}' | sed 's/@.*//' |
		grep -E -x "$forbidden" || true)
	if [ -n "$bad" ]; then
		echo "$(basename "$o"): calls $(echo $bad) directly; use os.c's wrapper" >&2
		fail=1
	fi
done
if [ "$checked" -lt 10 ]; then
	echo "check-os-calls: only $checked objects given" >&2
	exit 1
fi
[ "$fail" = 0 ] && echo "check-os-calls: $checked objects call the OS only through os.c"
exit $fail
