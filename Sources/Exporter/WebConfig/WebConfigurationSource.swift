import BPFSyscall
import Glibc
import Logging
import NIOSSL
import Synchronization

/// The web configuration in force, loaded again when its file or a certificate, key or CA file
/// it names changes (checked with stat(2) at each new connection and each request), as
/// exporter-toolkit re-reads its file: a renewed certificate is served from the next
/// connection on, without a restart.
///
/// The files are read again by the running process, after privileges were dropped: they must
/// stay readable by the user it runs as (`--run-as-user`).
///
/// A file that no longer loads (a certificate written before its key, a typo) fails closed:
/// connections are closed and requests answered 500 until it loads again; the error is logged
/// once per change. So does a change that would turn TLS on or off (that takes a restart).
final class WebConfigurationSource: Sendable {
    /// What one successful load gives every connection.
    struct Active: Sendable {
        let loaded: LoadedWebConfiguration
        let verifier: BasicAuthVerifier
        let rateLimiter: RateLimiter?

        init(_ loaded: LoadedWebConfiguration) {
            self.loaded = loaded
            verifier = BasicAuthVerifier(users: loaded.configuration.users)
            rateLimiter = loaded.configuration.rateLimit.flatMap { $0.intervalNanoseconds > 0 ? RateLimiter($0) : nil }
        }
    }

    private struct State {
        var active: Active?
        /// The configuration file and the files it names (kept while it fails to load, so that
        /// writing the missing key is noticed too).
        var watched: [String]
        var fingerprint: [FileFingerprint]
    }

    let path: String
    let usesTLS: Bool
    private let state: Mutex<State>
    private let logger: Logger

    init(_ loaded: LoadedWebConfiguration, logger: Logger) {
        path = loaded.configuration.path
        usesTLS = loaded.tls != nil
        logger.info("web configuration \(path): \(Self.summary(loaded))")
        state = Mutex(State(active: Active(loaded), watched: loaded.watchedFiles,
                            fingerprint: loaded.watchedFiles.map(FileFingerprint.init)))
        self.logger = logger
    }

    /// The configuration to apply now; nil while the file does not load (fail closed).
    func current() -> Active? {
        state.withLock { state in
            let now = state.watched.map(FileFingerprint.init)
            // A load that failed is retried once its files change again.
            guard now != state.fingerprint else { return state.active }
            state.fingerprint = now
            do {
                let loaded = try WebConfiguration.load(path: path)
                guard (loaded.tls != nil) == usesTLS else {
                    logger.error("web configuration \(path) changed: turning TLS \(usesTLS ? "off" : "on") takes a restart; refusing connections until it is changed back")
                    state.active = nil
                    return nil
                }
                state.active = Active(loaded)
                // The certificate files may have been named anew.
                state.watched = loaded.watchedFiles
                state.fingerprint = loaded.watchedFiles.map(FileFingerprint.init)
                logger.notice("web configuration reloaded: \(Self.summary(loaded))")
            } catch {
                logger.error("\(error); refusing connections until it loads again")
                state.active = nil
                // Watch the files the new text names, if it parses at all.
                if let bytes = try? SystemFile.readBytes(path, limit: 1 << 20),
                   let parsed = try? WebConfiguration.parse(bytes, path: path) {
                    state.watched = [path] + (parsed.tls?.files ?? [])
                    state.fingerprint = state.watched.map(FileFingerprint.init)
                }
            }
            return state.active
        }
    }

    static func summary(_ loaded: LoadedWebConfiguration) -> String {
        let configuration = loaded.configuration
        let tls = configuration.tls.map { settings in
            let name = { (version: TLSVersion) in TLSServerSettings.versions.first { $0.version == version }?.name ?? "?" }
            return "TLS \(name(settings.minimumVersion))-\(name(settings.maximumVersion)), client certificates \(settings.clientAuth.rawValue)"
        } ?? "TLS off"
        return "\(tls), basic auth \(configuration.users.isEmpty ? "off" : "\(configuration.users.count) user(s)"), \(configuration.headers.count) extra header(s)"
    }
}

/// What stat(2) says of a file: a change of any of these (or of whether it exists) means it
/// was written or replaced.
struct FileFingerprint: Sendable, Equatable {
    var device: UInt64 = 0
    var inode: UInt64 = 0
    var size: Int64 = 0
    var modified: Int64 = 0
    var changed: Int64 = 0
    var error: Int32 = 0

    init(_ path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            error = errno
            return
        }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
        size = Int64(status.st_size)
        modified = Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
        changed = Int64(status.st_ctim.tv_sec) * 1_000_000_000 + Int64(status.st_ctim.tv_nsec)
    }
}
