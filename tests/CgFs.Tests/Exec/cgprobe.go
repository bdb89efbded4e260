// What the Go cgroup libraries of runc and containerd decide about /sys/fs/cgroup; one line per
// check. Built in GOPATH mode from Debian's golang-github-opencontainers-runc-dev and
// golang-github-containerd-cgroups-dev by ExecTests.
package main

import (
	"fmt"
	"os"

	"github.com/containerd/cgroups"
	runccg "github.com/opencontainers/runc/libcontainer/cgroups"
)

func main() {
	fmt.Printf("runc-unified %v\n", runccg.IsCgroup2UnifiedMode())
	f, err := runccg.OpenFile("/sys/fs/cgroup", "cgroup.controllers", os.O_RDONLY)
	if err != nil {
		fmt.Printf("runc-openfile error\n")
	} else {
		buf := make([]byte, 256)
		n, _ := f.Read(buf)
		fmt.Printf("runc-openfile %q\n", string(buf[:n]))
		f.Close()
	}
	paths, err := runccg.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		fmt.Printf("runc-parse error\n")
	} else {
		fmt.Printf("runc-parse %q\n", paths[""])
	}
	switch cgroups.Mode() {
	case cgroups.Unified:
		fmt.Println("containerd-mode unified")
	case cgroups.Hybrid:
		fmt.Println("containerd-mode hybrid")
	case cgroups.Legacy:
		fmt.Println("containerd-mode legacy")
	default:
		fmt.Println("containerd-mode unavailable")
	}
}
