// Package oci is hull's OCI runtime conformance harness: it runs the
// runtime-tools validation suite (github.com/opencontainers/runtime-tools,
// ToolsVersion) against hull and, in the same run, against Debian's runc,
// and compares them program by program (docs/CONFORMANCE.md).
//
//	s, err := oci.Build(ctx, os.Stderr)           // cached under $HULL_CACHE/oci-<key>
//	bb, err := oci.FindBusybox(ctx, os.Stderr)    // Debian's busybox-static
//	ws, err := oci.NewWorkspace(ctx, s, bb)       // runtimetest + rootfs tarball
//	defer ws.Close()
//	runc, _ := oci.ParseRuntime("runc")
//	hull, _ := oci.ParseRuntime("hull=bin/hull --sandbox=process")
//	base, err := ws.Run(ctx, runc, oci.RunOptions{})
//	got, err := ws.Run(ctx, hull, oci.RunOptions{})
//	regressions, stale := oci.Compare(base, got, oci.ProcessSandboxExclusions)
//
// For humans: tests/oci/run.sh [-runtime SPEC]... [-run REGEXP] (the ocirun
// command). In the host tier: TestConformance (root).
//
// The validation programs' exit codes and TAP disagree in both directions,
// so Judge decides each program's verdict from both (see its rules).
package oci
