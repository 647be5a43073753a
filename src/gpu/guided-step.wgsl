// Classifier-free guidance and one scheduler step, in place on the latent.
//
//   eps  = uncond + guidance * (cond - uncond)      (batch 2: [uncond, cond]; batch 1: eps = out)
//   x'   = prev_from_sample * x + prev_from_output * eps
//   aux  = aux_from_sample  * x + aux_from_output  * eps
//
// aux is the denoised estimate during the loop; on the last step the pipeline passes the step's
// coefficients divided by the VAE scaling factor, so aux becomes the decoder's input and no
// separate scaling pass is needed.

override WORKGROUP_SIZE: u32;

struct Params {
  count: u32,        // elements of one latent
  guided: u32,       // 1: model_output holds [uncond, cond]; 0: one prediction
  guidance: f32,
  prev_from_sample: f32,
  prev_from_output: f32,
  aux_from_sample: f32,
  aux_from_output: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> model_output: array<f32>;
@group(0) @binding(2) var<storage, read_write> sample: array<f32>;
@group(0) @binding(3) var<storage, read_write> aux: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.count) {
    return;
  }
  var eps = model_output[i];
  if (params.guided == 1u) {
    let cond = model_output[params.count + i];
    eps = eps + params.guidance * (cond - eps);
  }
  let x = sample[i];
  sample[i] = params.prev_from_sample * x + params.prev_from_output * eps;
  aux[i] = params.aux_from_sample * x + params.aux_from_output * eps;
}
