package initramfs_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/hullvm/hull/initramfs"
)

func Example() {
	init := []byte("\x7fELF...") // a static binary, e.g. os.ReadFile("bin/hello-init")
	files := append(initramfs.Minimal(init),
		initramfs.File{Path: "etc/hostname", Mode: 0o644, Data: []byte("guest\n")})

	var archive bytes.Buffer // or an *os.File
	if err := initramfs.Write(&archive, files, initramfs.Options{}); err != nil {
		log.Fatal(err)
	}

	// List it back with u-root's reader.
	recs, err := cpio.ReadAllRecords(cpio.EOFReader{RecordReader: cpio.Newc.Reader(bytes.NewReader(archive.Bytes()))})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Printf("%#o %s\n", r.Mode, r.Name)
	}
	// Output:
	// 040755 dev
	// 020600 dev/console
	// 020666 dev/null
	// 040755 etc
	// 0100644 etc/hostname
	// 0100755 init
	// 040555 proc
	// 040555 sys
	// 041777 tmp
}
