"""The project's declarations: `mlproject` reads entry points and defaults from MLproject (the one
source of them), `params` checks each parameter by name, `naming` names runs after what they
computed."""
