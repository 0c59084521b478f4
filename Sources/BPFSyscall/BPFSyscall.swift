import CBPFSyscall
import ELFReader
