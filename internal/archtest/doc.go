// Package archtest holds no code: its tests enforce the repository's
// architecture rules on every `go test ./...`:
//
//   - `unsafe` is imported only by files named *_unsafe.go (and tests), and
//     each such file opens with a comment saying why it is safe (STYLE 2.1);
//   - the dependency direction of DESIGN.md §2 holds: kvm and guestmem import
//     nothing of hull; boot never imports kvm, vmm, devices or virtio; devices
//     never import kvm, vmm, virtio or guestmem; and so on (STYLE §4).
package archtest
