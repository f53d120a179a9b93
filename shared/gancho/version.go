package gancho

// Version is Gancho's release, sent as User-Agent: Gancho/<version>.
const Version = "0.1.0"
