package cli

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"
)

// maxInputBytes bounds what publish reads as one event from stdin or a
// file: four times the server's default --max-body-bytes, so a mistaken
// `herald publish t < huge.iso` fails fast instead of eating memory.
const maxInputBytes = 16 << 20

// inputUnit is one piece of input to publish: all of stdin, or one line.
type inputUnit struct {
	data []byte
	line int // 1-based line number with --stdin-lines, else 0
	err  error
}

// readInput reads publish's input in a goroutine and hands it over unit
// by unit, so that publish can stop on a cancelled context even while a
// read blocks (stdin on a terminal). The goroutine is owned by publish:
// it ends at the end of the input, on a read error, or after stop is
// called and its current read returns. With lines, every non-empty line
// ("\n" or "\r\n" terminated) is a unit; otherwise the whole input is one.
func readInput(r io.Reader, lines bool) (units <-chan inputUnit, stop func()) {
	ch := make(chan inputUnit)
	done := make(chan struct{})
	send := func(u inputUnit) bool {
		select {
		case ch <- u:
			return true
		case <-done:
			return false
		}
	}
	go func() {
		defer close(ch)
		if !lines {
			b, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
			if err == nil && len(b) > maxInputBytes {
				err = fmt.Errorf("the input is over %d MiB; publish it in parts (--stdin-lines)", maxInputBytes>>20)
			}
			send(inputUnit{data: b, err: err})
			return
		}
		br := bufio.NewReader(r)
		for n := 1; ; n++ {
			line, err := br.ReadBytes('\n')
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			if len(line) > 0 && !send(inputUnit{data: line, line: n}) {
				return
			}
			if err != nil {
				if err != io.EOF {
					send(inputUnit{err: err, line: n})
				}
				return
			}
		}
	}()
	var once sync.Once
	return ch, func() { once.Do(func() { close(done) }) }
}

// detectContentType guesses the media type of data published without
// --content-type: JSON when it parses as JSON, UTF-8 text, or else
// opaque bytes.
func detectContentType(data []byte) string {
	switch {
	case json.Valid(data):
		return "application/json"
	case utf8.Valid(data):
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// newUUIDv4 returns a random (version 4) UUID, the default event id.
func newUUIDv4() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
