package term

import "syscall"

const getAttr = syscall.TCGETS
