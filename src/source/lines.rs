//! Lines read in place from a buffer, without copying each one out.

use std::io::Read;

/// Longest line kept: a record is well under 1 KiB, and an endless "line" must not fill memory.
pub const MAX_LINE: usize = 64 * 1024;

const BUFFER: usize = 256 * 1024;

/// How a line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    Newline,
    /// Longer than `MAX_LINE`: dropped up to and including its newline.
    TooLong,
    /// The input ended without a final newline.
    Eof,
}

pub struct Lines<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> Lines<R> {
    pub fn new(src: R) -> Self {
        Lines {
            src,
            buf: vec![0; BUFFER + MAX_LINE],
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// Moves what is left to the front and reads more; false at the end of the input.
    fn refill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The next line without its `\n`, how it ended, and the bytes it took in the input; `None`
    /// at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<(&[u8], LineEnd, u64)>> {
        let mut searched = 0;
        loop {
            let pending = &self.buf[self.start + searched..self.end];
            if let Some(i) = memchr::memchr(b'\n', pending) {
                let line_end = self.start + searched + i;
                let range = self.start..line_end;
                self.start = line_end + 1;
                let taken = range.len() as u64 + 1;
                if range.len() > MAX_LINE {
                    return Ok(Some((&[], LineEnd::TooLong, taken)));
                }
                return Ok(Some((&self.buf[range], LineEnd::Newline, taken)));
            }
            searched = self.end - self.start;
            if searched > MAX_LINE {
                return self.skip_long_line().map(Some);
            }
            if !self.refill()? {
                if self.start == self.end {
                    return Ok(None);
                }
                let range = self.start..self.end;
                self.start = self.end;
                return Ok(Some((
                    &self.buf[range.clone()],
                    LineEnd::Eof,
                    range.len() as u64,
                )));
            }
        }
    }

    /// Drops a line past `MAX_LINE` up to and including its newline.
    fn skip_long_line(&mut self) -> std::io::Result<(&[u8], LineEnd, u64)> {
        let mut taken = (self.end - self.start) as u64;
        self.start = self.end;
        loop {
            if !self.refill()? {
                return Ok((&[], LineEnd::TooLong, taken));
            }
            match memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                Some(i) => {
                    taken += i as u64 + 1;
                    self.start += i + 1;
                    return Ok((&[], LineEnd::TooLong, taken));
                }
                None => {
                    taken += (self.end - self.start) as u64;
                    self.start = self.end;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read, to cross every boundary.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn all(input: &[u8], step: usize) -> Vec<(Vec<u8>, LineEnd, u64)> {
        let mut lines = Lines::new(Trickle(input, step));
        let mut out = Vec::new();
        while let Some((l, end, n)) = lines.next_line().unwrap() {
            out.push((l.to_vec(), end, n));
        }
        out
    }

    #[test]
    fn lines_come_whole_whatever_the_reads() {
        let input = b"first line\n\nthird\r\nno end";
        for step in [1, 2, 3, 7, 100, 1 << 20] {
            assert_eq!(
                all(input, step),
                [
                    (b"first line".to_vec(), LineEnd::Newline, 11),
                    (Vec::new(), LineEnd::Newline, 1),
                    (b"third\r".to_vec(), LineEnd::Newline, 7),
                    (b"no end".to_vec(), LineEnd::Eof, 6),
                ],
                "reads of {step} bytes"
            );
        }
    }

    #[test]
    fn an_endless_line_is_dropped_and_reading_goes_on() {
        let mut input = vec![b'x'; 3 * MAX_LINE + 5];
        input.extend_from_slice(b"\nnext\n");
        for step in [4096, 1 << 20] {
            let got = all(&input, step);
            assert_eq!(got.len(), 2);
            assert_eq!(
                (got[0].1, got[0].2),
                (LineEnd::TooLong, 3 * MAX_LINE as u64 + 6)
            );
            assert_eq!(got[1], (b"next".to_vec(), LineEnd::Newline, 5));
        }
        let got = all(&vec![b'y'; 2 * MAX_LINE], 1 << 20);
        assert_eq!(
            (got[0].1, got[0].2),
            (LineEnd::TooLong, 2 * MAX_LINE as u64)
        );
    }
}
