//! Where an object came from: the file and its position in that file.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub path: PathBuf,
    /// 0-based position among the objects of that file.
    pub index: usize,
    /// How many objects the file held; positions are only shown when there are several.
    pub of: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.of > 1 {
            write!(f, "{} #{}", self.path.display(), self.index + 1)
        } else {
            write!(f, "{}", self.path.display())
        }
    }
}
